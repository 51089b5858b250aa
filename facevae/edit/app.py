"""The local web page of `python serve.py ckpt_path=<ckpt>`: upload a photo, one slider per emotion.

Gradio (the field's convention for model demos), fully offline: analytics off (environment and
Blocks), Hugging Face Hub offline, a theme of system fonts only (no font files, no CDN), no share
link, no server-side rendering (it would start Node). tests/test_serve_browser.py drives the page in
headless Chromium and checks that every request it makes stays on localhost.

Sliders: each class of the model gets one, from `slider_min` to `slider_max` (0 = the face as the
model reads it, 1 = that emotion, > 1 extrapolates, < 0 moves away from it, as along Fig. 11's axis).
Several sliders add their edit directions (facevae.edit.mix), so one slider alone is exactly
`Editor.edit(photo, emotion, strength)`.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import cv2
import numpy as np

from ..data.errors import DataError
from .editor import Editor, Face
from .photo import load_photo

OFFLINE_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
               "GRADIO_SSR_MODE": "False"}


def _gradio():
    """gradio, imported only after analytics and hub access are switched off."""
    for key, value in OFFLINE_ENV.items():
        os.environ[key] = value
    try:
        import gradio as gr
    except ImportError:
        from ..config import ConfigError

        raise ConfigError("the web page needs Gradio: pip install 'gradio>=6,<7' "
                          "(or pip install -e '.[serve]')") from None
    return gr


def offline_theme(gr):
    """Gradio's default look with system fonts: Gradio's own fonts would be fetched as font files."""
    sans = [gr.themes.Font(name) for name in ("system-ui", "-apple-system", "Segoe UI", "Helvetica", "Arial",
                                               "sans-serif")]
    mono = [gr.themes.Font(name) for name in ("ui-monospace", "Menlo", "Consolas", "monospace")]
    return gr.themes.Default(font=sans, font_mono=mono)


def _shrink(photo: np.ndarray, max_side: int) -> np.ndarray:
    """A large photo scaled down so each slider move re-encodes a small PNG (the crop is 128 px anyway)."""
    h, w = photo.shape[:2]
    scale = max_side / max(h, w)
    if not max_side or scale >= 1:
        return photo
    return cv2.resize(photo, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def _show(face: np.ndarray) -> np.ndarray:
    """A 128 px face at 3× with smooth interpolation: big enough to see, no browser upscaling blur."""
    face = face.astype(np.float32) / (255.0 if face.dtype == np.uint8 else 1.0)
    big = cv2.resize(face, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    return np.clip(np.rint(big * 255), 0, 255).astype(np.uint8)


def build_app(editor: Editor, slider_min: float = -1.0, slider_max: float = 2.0, step: float = 0.05,
              max_side: int = 1024, checkpoint: str = "", photo: str | None = None):
    """The gr.Blocks page for `editor` (not launched); `photo` (a path) is on the page when it opens."""
    gr = _gradio()
    classes = editor.classes

    def prepare(photo, *values):
        """On upload: find and crop the face once; the sliders then only decode."""
        if photo is None:
            return None, None, None, None, "Upload a photo with a face."
        try:
            # The uploaded file itself, through facevae's decoder (16-bit, alpha, palette, pixel limit),
            # never Gradio's RGB conversion (which clipped 16-bit photos to white).
            image = load_photo(photo, "the photo", editor.max_pixels)
            face = editor.face(_shrink(image, max_side), "largest", name="the photo")
        except (DataError, ValueError) as exc:
            return None, None, None, None, f"**{str(exc).splitlines()[0]}**"
        return (face, *render(face, *values))

    def render(face: Face | None, *values):
        if face is None:
            return None, None, None, "Upload a photo with a face."
        started = time.perf_counter()
        out = editor.mix(face, {c: float(v) for c, v in zip(classes, values) if v})
        ms = (time.perf_counter() - started) * 1000
        sliders = ", ".join(f"{c} {v:+.2f}" for c, v in zip(classes, values) if v) or "all sliders at 0"
        many = f"{face.n_faces} faces found; editing the largest. " if face.n_faces > 1 else ""
        start = (f"The model reads this face as **{out['source']}**." if editor.source == "auto"
                 else f"Edits start from **{out['source']}** (source={editor.source}).")
        status = (f"{many}{start} Edit: {sliders} "
                  f"({ms:.0f} ms). Judge: {editor.judge_note}. Crop: {face.method}. "
                  + (f"Identity distance to the input: **{out['identity']:.2f}** (same person below 0.6)."
                     if out.get("identity") is not None else f"Identity: {editor.identity_note}."))
        pair = np.concatenate([_show(face.crop), _show(out["edited"])], axis=1)
        return pair, out["pasted"], out["judge_probs"], status

    with gr.Blocks(title="facevae: edit a face", analytics_enabled=False) as page:
        gr.Markdown(f"## facevae: edit a face\nModel **{editor.name}** (`{checkpoint}`). Upload a photo, "
                    "then move a slider: 0 is the face as the model reads it, 1 the emotion, above 1 "
                    "extrapolates, below 0 moves away from it. Several sliders add their edits.")
        face_state = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1):
                photo_in = gr.Image(value=photo, label="photo", type="filepath", image_mode=None,
                                    sources=["upload"], elem_id="photo", height=360)
            with gr.Column(scale=1):
                sliders = [gr.Slider(slider_min, slider_max, value=0.0, step=step, label=c, elem_id=f"slider-{c}")
                           for c in classes]
                reset = gr.Button("all sliders to 0", elem_id="reset")
        status = gr.Markdown("Upload a photo with a face.", elem_id="status")
        with gr.Row():
            # no "share" button: it would send the image to a Hugging Face Space
            face_out = gr.Image(label="face: input | edited", format="png", interactive=False, elem_id="edited-face",
                                height=300, buttons=["download", "fullscreen"])
            pasted = gr.Image(label="photo with the edited face", format="png", interactive=False,
                              elem_id="pasted", height=300, buttons=["download", "fullscreen"])
            judge = gr.Label(label="judge (FER2013) on the edited face", num_top_classes=len(classes),
                             elem_id="judge")
        outputs = [face_out, pasted, judge, status]
        photo_in.upload(prepare, [photo_in, *sliders], [face_state, *outputs])
        if photo is not None:  # the page opens with this face found and cropped, ready for the sliders
            page.load(prepare, [photo_in, *sliders], [face_state, *outputs])
        photo_in.clear(lambda: (None, None, None, None, "Upload a photo with a face."), None, [face_state, *outputs])
        for slider in sliders:
            # always_last: while one render runs, only the latest slider position is rendered next
            slider.change(render, [face_state, *sliders], outputs, trigger_mode="always_last",
                          show_progress="hidden")
        reset.click(lambda: [0.0] * len(sliders), None, sliders)
    return page


def serve(cfg) -> None:
    """Build the Editor from cfg.ckpt_path and serve the page on cfg.host:cfg.port until interrupted."""
    from ..config import ConfigError

    photo = cfg.get("photo")
    if photo is not None and not Path(str(photo)).is_file():
        raise ConfigError(f"photo={photo}: no such file; pass photo=<path to an image> or leave it out")
    gr = _gradio()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own start-up probes of the page, not news
    try:
        editor = Editor.from_checkpoint(cfg.ckpt_path, device=cfg.device, haar_min_face=cfg.haar_min_face,
                                        judge=cfg.judge, paste_mode=cfg.paste, source=cfg.source,
                                        max_pixels=int(cfg.max_pixels), crop=cfg.get("crop", "auto"),
                                        dlib_detector=cfg.get("dlib_detector", "hog"),
                                        identity=bool(cfg.get("identity", True)))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    shown = Path(str(cfg.ckpt_path))
    shown = Path(*shown.parts[-3:]) if len(shown.parts) > 3 else shown  # <run>/checkpoints/<file>: enough to tell
    page = build_app(editor, float(cfg.slider_min), float(cfg.slider_max), float(cfg.step), int(cfg.max_side),
                     str(shown), None if photo is None else str(photo))
    print(f"model: {editor.name} ({', '.join(editor.classes)}); judge: {editor.judge_note}")
    try:
        page.queue(default_concurrency_limit=1).launch(
            server_name=str(cfg.host), server_port=int(cfg.port), share=False, inbrowser=False,
            theme=offline_theme(gr), ssr_mode=False, show_error=True, mcp_server=False, pwa=False,
            enable_monitoring=False, footer_links=["gradio"], favicon_path=None,
            max_file_size=f"{int(cfg.max_upload_mb)}mb")
    except OSError as exc:
        raise ConfigError(f"cannot listen on {cfg.host}:{cfg.port} ({str(exc).splitlines()[0]}); "
                          "pass port=<a free port>") from None
