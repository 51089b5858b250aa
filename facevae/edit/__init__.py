"""Edit a face: a trained Fader (§2.3) or semi-supervised β-VAE (§2.4) applied to any photo with a face.

    from facevae.edit import Editor
    editor = Editor.from_checkpoint("outputs/train/<date>/<time>/checkpoints/best.ckpt")
    out = editor.edit("photo.jpg", "happiness", 1.0)   # a path, an RGB/grey uint8 array or a PIL image
    out["crop"], out["reconstruction"], out["edited"]  # 128×128: uint8 input, float [0, 1] outputs
    out["pasted"]                                      # the photo (same size) with the edited face blended in
    out["p_target"]                                    # the judge's P(happiness) for the edited face

Modules: editor (Editor: detect, crop as training data was, encode/decode, judge, paste), photo
(reading photos, crop geometry, the feathered paste), mix (several emotion sliders at once), grid
(the figure of edits with the judge's numbers), cli (edit.py), app (serve.py's Gradio page).
"""

from .editor import Editor, Face
from .grid import edit_grid
from .photo import load_photo

__all__ = ["Editor", "Face", "edit_grid", "load_photo"]
