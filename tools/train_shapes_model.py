"""Train the bundled shapes-tiny CLIP on drawn shapes, on CPU, and evaluate it zero-shot.

    python tools/train_shapes_model.py [--steps N] [--out DIR] [--quick]

Writes DIR/shapes-tiny.safetensors (float16 state_dict) and DIR/shapes-tiny.json (registry entry).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import open_clip  # noqa: E402
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD  # noqa: E402
from PIL import Image  # noqa: E402

from clipgallery import shapes  # noqa: E402

MEAN = tuple(OPENAI_DATASET_MEAN)
STD = tuple(OPENAI_DATASET_STD)
IMAGE_SIZE = 64
CONTEXT_LENGTH = 32
MODEL_CFG = {
    "embed_dim": 128,
    # open_clip's ModifiedResNet (a list of layers selects it): on CPU it learns shapes several
    # times faster per second than a ViT of the same cost.
    "vision_cfg": {"image_size": IMAGE_SIZE, "layers": [1, 1, 1, 1], "width": 16},
    "text_cfg": {"context_length": CONTEXT_LENGTH, "vocab_size": 49408, "width": 64, "heads": 4, "layers": 2},
}
SEED = 0
EVAL_SEED = 777  # write_folder seed for the held-out evaluation pictures
NONE = len(shapes.CLASSES)  # "no second object" index in the caption/image match masks
JPEG_SHARE = 0.4

# Which captions describe a picture. Shape-only captions come most often, so that shape is the
# strongest direction of the image space (k-means should find the four shapes, not the colours).
# Cumulative shares: single object: full, on-background, shape-only (rest: colour-only);
# two objects: both full, both shapes (rest: both colours).
SINGLE_SHARES = (0.25, 0.30, 0.90)
PAIR_SHARES = (0.4, 0.9)
FULL = [
    "a {o}",
    "a photo of a {o}",
    "a drawing of a {o}",
    "a picture of a {o}",
    "{o}",
    "an image of a {o}",
    "a picture with a {o}",
    "a {o} shape",
    "a photo of the {o}",
]
SHAPE_ONLY = [
    "a {s}",
    "a photo of a {s}",
    "a drawing of a {s}",
    "a picture of a {s}",
    "{s}",
    "a {s} shape",
    "an image of a {s}",
    "a photo of the {s}",
    "a picture with a {s}",
]
COLOUR_ONLY = [
    "something {c}",
    "a {c} object",
    "a {c} thing",
    "{c}",
    "a photo of something {c}",
    "a {c} shape",
    "the colour {c}",
    "a picture of something {c}",
]
PAIR = [
    "a picture with a {o1} and a {o2}",
    "a {o1} and a {o2}",
    "a photo of a {o1} and a {o2}",
    "{o1} and {o2}",
    "a drawing of a {o1} and a {o2}",
]
BACKGROUND_WORDS = {
    "white": "white",
    "black": "black",
    "grey": "grey",
    "gradient": "gradient",
    "noise": "noisy",
}
ON_BACKGROUND = [
    "a {o} on a {b} background",
    "{o} on a {b} background",
    "a photo of a {o} on a {b} background",
]


def article(text: str) -> str:
    """Fix 'a orange' -> 'an orange' in a caption."""
    words = text.split()
    return " ".join(
        "an" if w == "a" and i + 1 < len(words) and words[i + 1][0] in "aeiou" else w
        for i, w in enumerate(words)
    )


def class_mask(colour: str | None, shape: str | None) -> np.ndarray:
    mask = np.zeros(NONE + 1, bool)
    for k, (c, s) in enumerate(shapes.CLASSES):
        mask[k] = (colour in (None, c)) and (shape in (None, s))
    return mask


NONE_MASK = np.eye(NONE + 1, dtype=bool)[NONE]


def caption(objs: list[int], background: str, rng: np.random.Generator):
    """A random true caption for a picture, and what it claims: (text, mask1, mask2, background id)."""
    bg = -1
    if len(objs) == 1:
        c, s = shapes.CLASSES[objs[0]]
        r = rng.random()
        if r < SINGLE_SHARES[0]:
            text, m1 = FULL[rng.integers(len(FULL))].format(o=f"{c} {s}"), class_mask(c, s)
        elif r < SINGLE_SHARES[1] and background in BACKGROUND_WORDS:
            text = ON_BACKGROUND[rng.integers(len(ON_BACKGROUND))].format(
                o=f"{c} {s}", b=BACKGROUND_WORDS[background]
            )
            m1, bg = class_mask(c, s), shapes.BACKGROUNDS.index(background)
        elif r < SINGLE_SHARES[2]:
            text, m1 = SHAPE_ONLY[rng.integers(len(SHAPE_ONLY))].format(s=s), class_mask(None, s)
        else:
            text, m1 = COLOUR_ONLY[rng.integers(len(COLOUR_ONLY))].format(c=c), class_mask(c, None)
        return article(text), m1, NONE_MASK, bg
    first, second = (shapes.CLASSES[k] for k in (objs if rng.random() < 0.5 else objs[::-1]))
    r = rng.random()
    if r < PAIR_SHARES[0]:
        text = PAIR[rng.integers(len(PAIR))].format(o1=" ".join(first), o2=" ".join(second))
        m1, m2 = class_mask(*first), class_mask(*second)
    elif r < PAIR_SHARES[1]:
        m1, m2 = class_mask(None, first[1]), class_mask(None, second[1])
        if first[1] == second[1]:
            text = f"two {first[1]}s"
        else:
            text = rng.choice(["a {a} and a {b}", "a picture with a {a} and a {b}"]).format(
                a=first[1], b=second[1]
            )
    else:
        m1, m2 = class_mask(first[0], None), class_mask(second[0], None)
        text = rng.choice(["something {a} and something {b}", "a {a} object and a {b} object"]).format(
            a=first[0], b=second[0]
        )
    return article(text), m1, m2, bg


def crop_transform():
    """open_clip's eval transform minus ToTensor/Normalize: PIL -> IMAGE_SIZE square PIL."""
    full = open_clip.image_transform(IMAGE_SIZE, is_train=False, mean=MEAN, std=STD)
    return full, open_clip.transform.Compose(full.transforms[:-2])


def normalize(batch_uint8: torch.Tensor) -> torch.Tensor:
    """The rest of open_clip's eval transform (ToTensor + Normalize), on a uint8 NCHW batch."""
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (batch_uint8.float() / 255.0 - mean) / std


def render_chunk(seeds: range):
    """Draw training pictures for these seeds -> (uint8 N x S x S x 3, objects, background ids)."""
    _, crop = crop_transform()
    pixels, objects, backgrounds = [], [], []
    for seed in seeds:
        rng = np.random.default_rng([SEED, seed])
        objs = shapes.random_objects(rng)
        short = int(rng.integers(64, 257))
        long = int(short * math.exp(rng.uniform(0, math.log(1.6))))
        size = (long, short) if rng.random() < 0.5 else (short, long)
        drawing = shapes.render(objs, seed, size)
        image = drawing.image
        if rng.random() < JPEG_SHARE:
            image = shapes.jpeg_roundtrip(image, int(rng.integers(30, 96)))
        pixels.append(np.asarray(crop(image), np.uint8))
        objects.append([shapes.CLASSES.index(o) for o in objs])
        backgrounds.append(drawing.background)
    return np.stack(pixels), objects, backgrounds


def render_training_set(count: int, workers: int = 2):
    chunks = [range(i, min(i + 2000, count)) for i in range(0, count, 2000)]
    with get_context("spawn").Pool(workers) as pool:
        parts = pool.map(render_chunk, chunks)
    pixels = torch.from_numpy(np.concatenate([p for p, _, _ in parts])).permute(0, 3, 1, 2).contiguous()
    objects = [o for _, objs, _ in parts for o in objs]
    backgrounds = [b for _, _, bgs in parts for b in bgs]
    return pixels, objects, backgrounds


class Captioner:
    """Tokenises captions with the standard open_clip tokenizer, caching each distinct text."""

    def __init__(self):
        self.tokenizer = open_clip.get_tokenizer("ViT-B-32", context_length=CONTEXT_LENGTH)
        self.cache: dict[str, torch.Tensor] = {}

    def __call__(self, texts: list[str]) -> torch.Tensor:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            for text, tokens in zip(missing, self.tokenizer(missing)):
                self.cache[text] = tokens
        return torch.stack([self.cache[t] for t in texts])


def dihedral(batch: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Random flips and quarter turns: every shape stays the same shape."""
    out = batch.clone()
    ops = rng.integers(0, 8, len(batch))
    for op in range(1, 8):
        idx = torch.from_numpy(np.nonzero(ops == op)[0])
        if len(idx):
            x = torch.rot90(batch[idx], op % 4, dims=(2, 3))
            out[idx] = x.flip(3) if op >= 4 else x
    return out


def match_matrix(first, second, bgs, m1, m2, bg_req) -> torch.Tensor:
    """[texts, images] True where a caption is true of a picture (the multi-positive targets)."""
    direct = m1[:, first] & m2[:, second]
    swapped = m1[:, second] & m2[:, first]
    bg_ok = (bg_req[:, None] < 0) | (bg_req[:, None] == bgs[None, :])
    return (direct | swapped) & bg_ok


def contrastive_loss(image_f, text_f, logit_scale, match) -> torch.Tensor:
    """Symmetric InfoNCE; captions that are also true of other pictures count as positives too."""
    logits = logit_scale * image_f @ text_f.T  # [images, texts]
    targets = match.T.float()
    i2t = -(targets / targets.sum(1, keepdim=True) * F.log_softmax(logits, 1)).sum(1).mean()
    t2i = -(targets.T / targets.T.sum(1, keepdim=True) * F.log_softmax(logits.T, 1)).sum(1).mean()
    return (i2t + t2i) / 2


def build_model() -> open_clip.model.CLIP:
    torch.manual_seed(SEED)
    return open_clip.model.CLIP(**MODEL_CFG)


def train(args) -> tuple[open_clip.model.CLIP, dict]:
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    t0 = time.time()
    pixels, objects, backgrounds = render_training_set(args.images)
    render_s = time.time() - t0
    print(f"rendered {len(pixels)} training pictures in {render_s:.0f}s", flush=True)

    first = torch.tensor([o[0] for o in objects])
    second = torch.tensor([o[1] if len(o) > 1 else NONE for o in objects])
    bg_ids = torch.tensor([shapes.BACKGROUNDS.index(b) for b in backgrounds])
    captioner = Captioner()
    model = build_model()
    model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.98),
        eps=1e-6,
    )
    warmup = max(1, args.steps // 20)
    t1 = time.time()
    for step in range(args.steps):
        lr = args.lr * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.from_numpy(rng.choice(len(pixels), args.batch, replace=False))
        images = normalize(dihedral(pixels[idx], rng))
        caps = [caption(objects[i], backgrounds[i], rng) for i in idx.tolist()]
        tokens = captioner([c[0] for c in caps])
        m1 = torch.from_numpy(np.stack([c[1] for c in caps]))
        m2 = torch.from_numpy(np.stack([c[2] for c in caps]))
        bg_req = torch.tensor([c[3] for c in caps])
        match = match_matrix(first[idx], second[idx], bg_ids[idx], m1, m2, bg_req)
        # bfloat16 matmuls are fast on CPUs with AMX/AVX512; the math attention kernel because
        # the fused CPU kernel's bfloat16 backward pass is several times slower.
        with sdpa_kernel(SDPBackend.MATH), torch.autocast("cpu", dtype=torch.bfloat16):
            image_f, text_f, scale = model(images, tokens)
        loss = contrastive_loss(image_f.float(), text_f.float(), scale.float(), match)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        if step % 50 == 0 or step == args.steps - 1:
            print(
                f"step {step:4d}  loss {loss.item():.3f}  scale {scale.item():.1f}  "
                f"lr {lr:.2e}  {time.time() - t1:.0f}s",
                flush=True,
            )
    info = {
        "steps": args.steps,
        "batch": args.batch,
        "lr": args.lr,
        "train_images": len(pixels),
        "train_seeds": f"0..{len(pixels) - 1} (below shapes.TRAIN_SEED_LIMIT)",
        "jpeg_share": JPEG_SHARE,
        "render_seconds": round(render_s, 1),
        "train_seconds": round(time.time() - t1, 1),
        "autocast": "bfloat16 (CPU)",
    }
    return model, info


@torch.no_grad()
def encode_texts(model, captioner: Captioner, texts: list[str]) -> torch.Tensor:
    return F.normalize(model.encode_text(captioner(texts)), dim=-1)


@torch.no_grad()
def evaluate(model, per_class: int) -> dict:
    """Zero-shot accuracy on held-out pictures written by shapes.write_folder, read back from disk."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    model.eval()
    full, _ = crop_transform()
    captioner = Captioner()
    with tempfile.TemporaryDirectory() as tmp:
        truth = shapes.write_folder(Path(tmp), per_class, EVAL_SEED)
        paths = sorted(truth)
        batch = torch.stack([full(Image.open(p).convert("RGB")) for p in paths])
    image_f = F.normalize(model.encode_image(batch), dim=-1)
    labels = [truth[p] for p in paths]

    def accuracy(names: list[str], templates: list[str], truth_of) -> float:
        text_f = torch.stack(
            [encode_texts(model, captioner, [article(t.format(n)) for t in templates]).mean(0) for n in names]
        )
        pred = (image_f @ F.normalize(text_f, dim=-1).T).argmax(1)
        return round(float(np.mean([names[p] == truth_of(lab) for p, lab in zip(pred.tolist(), labels)])), 4)

    class_names = [shapes.class_name(c, s) for c, s in shapes.CLASSES]
    shape_ids = [shapes.SHAPES.index(s) for _, s in labels]
    clusters = KMeans(4, n_init=10, random_state=0).fit_predict(image_f.numpy())
    one_colour_ari = []  # k-means on pictures of a single colour must still find the shapes
    for colour in shapes.COLOURS:
        rows = [i for i, (c, _) in enumerate(labels) if c == colour]
        found = KMeans(4, n_init=10, random_state=0).fit_predict(image_f[rows].numpy())
        one_colour_ari.append(adjusted_rand_score([shape_ids[i] for i in rows], found))
    sims = (image_f @ image_f.T).numpy()
    colour_of, shape_of = np.array([c for c, _ in labels]), np.array([s for _, s in labels])
    same_shape, same_colour = shape_of[:, None] == shape_of, colour_of[:, None] == colour_of

    def mean_cosine(mask: np.ndarray) -> float:
        return float(sims[mask].mean())

    queries = encode_texts(model, captioner, class_names)  # search queries as a user types them
    top5 = (queries @ image_f.T).topk(5, dim=1).indices
    precision = [np.mean([labels[j] == cls for j in row]) for cls, row in zip(shapes.CLASSES, top5.tolist())]
    return {
        "eval_images": len(paths),
        "eval_seed": f"shapes.write_folder(seed={EVAL_SEED}, per_class={per_class})",
        "top1_24way": accuracy(class_names, ["a photo of a {}"], lambda lab: shapes.class_name(*lab)),
        "top1_24way_ensemble": accuracy(
            class_names, ["a photo of a {}", "a {}", "a drawing of a {}"], lambda lab: shapes.class_name(*lab)
        ),
        "top1_shape_4way": accuracy(list(shapes.SHAPES), ["a photo of a {}"], lambda lab: lab[1]),
        "top1_colour_6way": accuracy(list(shapes.COLOURS), ["something {}"], lambda lab: lab[0]),
        "kmeans4_shape_ari": round(float(adjusted_rand_score(shape_ids, clusters)), 4),
        "kmeans4_shape_ari_one_colour_min": round(float(min(one_colour_ari)), 4),
        "search_precision_at_5_min": round(float(min(precision)), 4),
        "cosine_same_shape_other_colour": round(mean_cosine(same_shape & ~same_colour), 4),
        "cosine_same_colour_other_shape": round(mean_cosine(same_colour & ~same_shape), 4),
    }


def check_preprocessing() -> None:
    """The uint8 crop + tensor normalisation used in training equals open_clip's eval transform."""
    full, crop = crop_transform()
    for seed in range(3):
        image = shapes.draw(shapes.random_objects(np.random.default_rng(seed)), seed)
        ours = normalize(torch.from_numpy(np.array(crop(image))).permute(2, 0, 1)[None])[0]
        assert torch.allclose(ours, full(image), atol=1e-5), "preprocessing differs from open_clip's"


def half_state(model) -> dict[str, torch.Tensor]:
    """The state_dict with float tensors in float16 (the token embedding alone is 49408 x width)."""
    return {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in model.state_dict().items()}


def save(model, info: dict, out: Path) -> None:
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    weights = out / "shapes-tiny.safetensors"
    save_file(half_state(model), str(weights))
    weights.chmod(0o644)  # save_file makes it private; it ships with the package
    entry = {
        "name": "shapes-tiny",
        "description": "A tiny CLIP trained on drawn coloured shapes (circle, square, triangle, star in "
        "six colours); knows nothing else. For tests and demos without downloads.",
        "model_cfg": MODEL_CFG,
        "weights": "shapes-tiny.safetensors",
        "seed": SEED,
        "mean": list(MEAN),
        "std": list(STD),
        "trained": info,
    }
    (out / "shapes-tiny.json").write_text(json.dumps(entry, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--images", type=int, default=40000, help="size of the pre-rendered training set")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--eval-per-class", type=int, default=40)
    parser.add_argument("--out", type=Path, default=ROOT / "clipgallery" / "resources" / "models")
    parser.add_argument("--quick", action="store_true", help="a tiny run, to check that everything works")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.images, args.batch, args.eval_per_class = 20, 1000, 64, 2
    torch.set_num_threads(2)
    start = time.time()
    check_preprocessing()
    model, info = train(args)
    # Evaluate what ships: the weights after their float16 round trip.
    model.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in half_state(model).items()}
    )
    info.update(evaluate(model, args.eval_per_class))
    info["total_seconds"] = round(time.time() - start, 1)
    print(json.dumps(info, indent=2))
    save(model, info, args.out)
    print(f"wrote {args.out / 'shapes-tiny.json'} and the weights", flush=True)


if __name__ == "__main__":
    main()
