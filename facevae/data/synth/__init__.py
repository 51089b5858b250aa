"""Synthetic CK+: procedurally rendered grey faces in the exact CK+ layout, with full ground truth."""

from facevae.data.synth.action_units import (
    AU_NAMES,
    AU_NUMBERS,
    EMOTION_PROTOTYPES,
    apply_action_units,
    sample_emotion_aus,
)
from facevae.data.synth.generate import SynthSpec, facs_intensity, generate_synth, plan_subject
from facevae.data.synth.identity import neutral_landmarks, sample_identity
from facevae.data.synth.render import render_face, sample_nuisance

__all__ = [
    "AU_NAMES",
    "AU_NUMBERS",
    "EMOTION_PROTOTYPES",
    "SynthSpec",
    "apply_action_units",
    "facs_intensity",
    "generate_synth",
    "neutral_landmarks",
    "plan_subject",
    "render_face",
    "sample_emotion_aus",
    "sample_identity",
    "sample_nuisance",
]
