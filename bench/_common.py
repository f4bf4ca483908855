"""Helpers shared by the benchmark scripts: machine description and a random-weight ViT-B-32."""

from __future__ import annotations

import os
import platform


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"{gpu}, load average {load:.2f}")


def random_vit_b32(device: str = "cpu"):
    """An Embedder over the real ViT-B-32 architecture with random weights (speed only, no download)."""
    import logging

    import open_clip
    import torch

    from clipgallery.core.embed import Embedder
    from clipgallery.core.models import LoadedModel, ModelSpec

    logging.getLogger().setLevel(logging.ERROR)  # open_clip warns that the weights are random: we know
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    model = model.to(device=device, dtype=dtype).eval()
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    spec = ModelSpec("ViT-B-32:random-weights", "open_clip", "ViT-B-32", None)
    return Embedder(LoadedModel(spec, model, preprocess, tokenizer, device, dtype, 512, 224, 100.0))
