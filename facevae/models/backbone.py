"""The encoder/decoder backbone the generative models share (§2.2-§2.4, issue 14): a conv trunk with a dense
head for the vector latent, an optional spatial style map beside it, and the decoder that reads both."""

from __future__ import annotations

import math
import re

import torch
from torch import nn

from .arch import build_network


def build_encoder(spec: str, in_shape: tuple[int, ...], pool_stride: int, style_map: int, stochastic: bool = True,
                  key: str = "arch.encoder"):
    """The encoder as (trunk, dense head) + the style-map head: the trunk is the conv layers of `spec`, the
    head the rest (it must end in a dense layer). With style_map=S, a 1x1 conv on the trunk's last map gives
    an S-channel style map (issue 14: a face's detail does not fit in a vector): μ and log σ² of it when
    `stochastic` (the β-VAE), the map itself otherwise (the Fader)."""
    tokens = spec.replace(" ", "").split("-")
    cut = next((i for i, t in enumerate(tokens) if not t.startswith("C")), len(tokens))
    trunk, trunk_shape = build_network("-".join(tokens[:cut]), in_shape, pool_stride)
    head, h_shape = build_network("-".join(tokens[cut:]), trunk_shape, pool_stride)
    if len(h_shape) != 1 or cut == len(tokens):
        raise ValueError(f"{key}={spec!r} must end in a dense layer (F<l>)")
    if not style_map:
        return nn.Sequential(trunk, head), None, h_shape, (0,)
    if len(trunk_shape) != 3:
        raise ValueError(f"model.style_map={style_map} needs conv layers (C<k>) at the start of {key}={spec!r}")
    style_head = nn.Conv2d(trunk_shape[0], (1 + stochastic) * style_map, 1)
    if stochastic:
        # The posterior starts narrow (σ = e^-2): at σ = 1 the decoder's input is mostly noise for hundreds of steps.
        nn.init.constant_(style_head.bias[style_map:], -4.0)
    return nn.Sequential(trunk, head), style_head, h_shape, (style_map, *trunk_shape[1:])


def map_decoder_input(vec: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """The decoder's input with a style map: the map, with the vector part given to every position."""
    return torch.cat([style, vec[:, :, None, None].expand(-1, -1, *style.shape[2:])], 1)


def latent_map(z: torch.Tensor, vector_dims: int, map_shape: tuple[int, ...]) -> torch.Tensor:
    """The style map of a flat latent (vector part first, then the map's values), as N × S × H × W."""
    return z[:, vector_dims:].view(len(z), *map_shape)


def summary_codes(z: torch.Tensor, vector_dims: int, map_shape: tuple[int, ...]) -> torch.Tensor:
    """The latent as evaluation reads it: the vector part, and the style map (if any) averaged over positions."""
    if not map_shape[0]:
        return z
    return torch.cat([z[:, :vector_dims], latent_map(z, vector_dims, map_shape).mean((2, 3))], 1)


def build_decoder(arch: dict, vector_dims: int, map_shape: tuple[int, ...], image_shape: tuple[int, ...],
                  out_channels: int = 1):
    """arch.decoder from a vector, or arch.map_decoder from the style map with the vector tiled over it.
    out_channels=2 widens the last layer (TC1/UC1 -> TC2/UC2) for an attention mask beside the face."""
    style_map = map_shape[0]
    key = "map_decoder" if style_map else "decoder"
    if not arch.get(key):
        raise ValueError(f"model.style_map={style_map} needs arch.map_decoder (arch={arch.get('name')} has none): "
                         "use model.style_map=0 for the paper's vector latent, or set arch.map_decoder")
    spec = arch[key]
    if out_channels != 1:
        head, _, last = spec.replace(" ", "").rpartition("-")
        if not re.fullmatch(r"(TC|UC)1,\d+,\d+", last):
            raise ValueError(f"arch.{key}={spec!r} must end in TC1,<n>,<s> or UC1,<n>,<s> for an attention mask "
                             "(model.edit_mode=mask); use another edit_mode or end the decoder in one output map")
        kind, rest = last[:2], last[3:]
        spec = f"{head}-{kind}{out_channels}{rest}" if head else f"{kind}{out_channels}{rest}"
    dec_in = (vector_dims + style_map, *map_shape[1:]) if style_map else (vector_dims,)
    decoder, out_shape = build_network(spec, dec_in, arch["pool_stride"], out_activation=False,
                                       image_size=image_shape[-1])
    if math.prod(out_shape) != out_channels * math.prod(image_shape):
        raise ValueError(f"arch.{key}={arch[key]!r} outputs {out_shape} from {dec_in}, expected {image_shape}")
    return decoder


def split_encoder_keys(state_dict: dict, n_trunk: int) -> dict:
    """Checkpoints from before the encoder was split into trunk and head (issue 14) hold encoder.<i>.<param>
    of one Sequential: its first n_trunk modules are the trunk (encoder.0), the rest the head (encoder.1)."""

    def new_key(k: str) -> str:
        parts = k.split(".")
        if len(parts) != 3 or parts[0] != "encoder":
            return k
        i = int(parts[1])
        return f"encoder.0.{i}.{parts[2]}" if i < n_trunk else f"encoder.1.{i - n_trunk}.{parts[2]}"

    return {new_key(k): v for k, v in state_dict.items()}


class GaussianVAE:
    """The VAE of §2.2 and §2.4 (a mixin for their LightningModules): encoder trunk and dense head -> (μ, log σ²)
    of a `vector_dims` latent, an optional style map beside it (issue 14), and the decoder that reads both."""

    def build_vae(self, arch: dict, image_size: int, vector_dims: int, style_map: int = 0,
                  encoder_key: str = "encoder") -> None:
        """Build encoder (the layers of arch[encoder_key], or of arch.encoder where that is null), style head,
        μ / log σ² layers and decoder; the subclass's __init__ calls this once."""
        self.image_shape = (1, image_size, image_size)
        self.vector_dims = vector_dims
        key = encoder_key if arch.get(encoder_key) else "encoder"
        self.encoder, self.style_head, h_shape, self.map_shape = build_encoder(
            arch[key], self.image_shape, arch["pool_stride"], style_map, key=f"arch.{key}")
        self.latent_dims = vector_dims + math.prod(self.map_shape)
        self.to_mu = nn.Linear(h_shape[0], vector_dims)
        self.to_logvar = nn.Linear(h_shape[0], vector_dims)
        # With a style map the decoder starts from it (arch.map_decoder), the vector part given to every position.
        self.decoder = build_decoder(arch, vector_dims, self.map_shape, self.image_shape)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, log σ²) of the whole latent, flat: the vector part (emotion axes, style_dims), then the style map."""
        trunk = self.encoder[0](x)
        h = self.encoder[1](trunk)
        mu, logvar = self.to_mu(h), self.to_logvar(h)
        if self.style_head is not None:
            map_mu, map_logvar = self.style_head(trunk).chunk(2, dim=1)
            mu, logvar = torch.cat([mu, map_mu.flatten(1)], 1), torch.cat([logvar, map_logvar.flatten(1)], 1)
        return mu, logvar.clamp(-12, 8)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        if self.style_head is not None:
            # The vector part (emotion axes first) is given to every position of the style map.
            z = map_decoder_input(z[:, : self.vector_dims], latent_map(z, self.vector_dims, self.map_shape))
        return self.decoder(z).view(z.shape[0], *self.image_shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] for latent codes z."""
        return torch.sigmoid(self.decode_logits(z))

    def load_state_dict(self, state_dict, strict: bool = True, **kwargs):
        return super().load_state_dict(split_encoder_keys(state_dict, len(self.encoder[0])), strict=strict, **kwargs)
