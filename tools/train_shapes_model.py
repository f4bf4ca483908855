"""Train the bundled shapes-tiny CLIP on drawn shapes, on CPU, and evaluate it zero-shot.

    python tools/train_shapes_model.py --init PREVIOUS.safetensors [--steps N] [--out DIR] [--quick]
    python tools/train_shapes_model.py --eval-only WEIGHTS.safetensors

The shipped weights are the previous shapes-tiny (git 144d06f) fine-tuned with the defaults here;
docs/shapes-tiny.md says how to reproduce them.

Writes DIR/shapes-tiny.safetensors (float16 state_dict) and DIR/shapes-tiny.json (registry entry).
"""

from __future__ import annotations

import argparse
import itertools
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

from clipgallery import shapes, shapes_heldout  # noqa: E402

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
EVAL_SEED = 777  # write_folder seed for the validation pictures of the training renderer
HELD_OUT_SEED = 4_242  # shapes_heldout.write_folder seed for the held-out style's figures
NONE = len(shapes.CLASSES)  # "no object in this slot" index in the caption/image match masks
SLOTS = 3  # at most three objects per picture
JPEG_SHARE = 0.4
CLASSIC_SHARE = 0.2  # pictures drawn by shapes.render (the style most tests draw); the rest render_varied

# Which captions describe a picture. Shape-only captions come most often, so that shape is the
# strongest direction of the image space (k-means should find the four shapes, not the colours).
# Cumulative shares: full, on-background, shape-only (rest: colour-only).
SHARES = (0.27, 0.32, 0.88)
PREFIXES = [
    "", "", "", "a photo of ", "a drawing of ", "a picture of ", "an image of ", "a picture with ",
    "a photo of the ", "a close-up photo of ", "a good photo of ", "a photo showing ", "there is ",
    "a sketch of ", "an illustration of ", "clip art of ", "a painting of ", "a cartoon of ",
]
# How people name a shape or colour besides its own word (used now and then).
SYNONYMS = {
    "circle": ["round shape", "disc", "dot", "circle shape"],
    "square": ["square shape", "box"],
    "triangle": ["triangle shape", "triangular shape"],
    "star": ["five-pointed star", "star shape"],
    "purple": ["violet"],
}
SYNONYM_SHARE = 0.08
COLOUR_ONLY = ["something {c}", "a {c} object", "a {c} thing", "{c}", "a photo of something {c}", "a {c} shape",
               "the colour {c}", "a picture of something {c}", "{c} colour", "mostly {c}"]
NUMBERS = {2: "two", 3: "three"}


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


def word(w: str, rng: np.random.Generator) -> str:
    return w if w not in SYNONYMS or rng.random() >= SYNONYM_SHARE else str(rng.choice(SYNONYMS[w]))


def listing(items: list[str], rng: np.random.Generator) -> str:
    if len(items) == 1:
        return items[0]
    joiner = ", " if rng.random() < 0.7 else " and "
    return joiner.join(items[:-1]) + (" and " if rng.random() < 0.8 else ", ") + items[-1]


def one_full(c: str, s: str, rng: np.random.Generator) -> str:
    c, s = word(c, rng), word(s, rng)
    r = rng.random()
    if r < 0.8:
        return f"a {c} {s}"
    return str(rng.choice([f"a {s} in {c}", f"a {c} coloured {s}", f"a {s} that is {c}", f"a {s}, {c}"]))


def caption(objs: list[int], background: str | None, rng: np.random.Generator):
    """A random true caption for a picture, and what it claims: (text, masks [SLOTS, classes+1], background)."""
    named = [shapes.CLASSES[k] for k in objs]
    order = rng.permutation(len(named))
    named = [named[i] for i in order]
    masks = [NONE_MASK] * SLOTS
    bg = None
    r = rng.random()
    prefix = str(rng.choice(PREFIXES))
    if r < SHARES[0] or (r < SHARES[1] and len(named) > 1):
        text = prefix + listing([one_full(c, s, rng) for c, s in named], rng)
        masks[: len(named)] = [class_mask(c, s) for c, s in named]
        if rng.random() < 0.1:
            text = ("a " if len(named) == 1 else "") + listing([f"{c} {s}" for c, s in named], rng)
    elif r < SHARES[1]:
        c, s = named[0]
        bg = background if background in shapes.BACKGROUND_NAMES else None
        if bg is None:
            text = prefix + one_full(c, s, rng)
        else:
            text = prefix + one_full(c, s, rng) + f" on a {shapes.BACKGROUND_NAMES[bg]} background"
        masks[0] = class_mask(c, s)
    elif r < SHARES[2]:
        counts: dict[str, int] = {}
        for _, s in named:
            counts[s] = counts.get(s, 0) + 1
        parts = [f"a {word(s, rng)}" if n == 1 else f"{NUMBERS[n]} {s}s" for s, n in counts.items()]
        text = prefix + listing(parts, rng)
        masks[: len(named)] = [class_mask(None, s) for _, s in named]
    else:
        cols = [c for c, _ in named]
        if len(set(cols)) == 1 and len(cols) > 1:
            text = f"{NUMBERS[len(cols)]} {word(cols[0], rng)} things"
        elif len(cols) == 1:
            text = str(rng.choice(COLOUR_ONLY)).format(c=word(cols[0], rng))
        else:
            text = str(rng.choice(["something {}", "{}", "a {} object", "{} things"])).format(
                listing([word(c, rng) for c in cols], rng))
        masks[: len(named)] = [class_mask(c, None) for c in cols]
    if rng.random() < 0.3:
        text += "."
    return article(text), np.stack(masks), bg


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
    """Draw training pictures for these seeds -> (uint8 N x S x S x 3, objects, background kinds)."""
    _, crop = crop_transform()
    pixels, objects, backgrounds = [], [], []
    for seed in seeds:
        rng = np.random.default_rng([SEED, seed])
        if rng.random() < CLASSIC_SHARE:
            objs = shapes.random_objects(rng)
            short = int(rng.integers(64, 257))
            long = int(short * math.exp(rng.uniform(0, math.log(1.6))))
            size = (long, short) if rng.random() < 0.5 else (short, long)
            drawing = shapes.render(objs, seed, size)
        else:
            objs = shapes.random_varied_objects(rng)
            drawing = shapes.render_varied(objs, seed)
        image = drawing.image
        if rng.random() < JPEG_SHARE:
            image = shapes.jpeg_roundtrip(image, int(rng.integers(10, 96)))
        pixels.append(np.asarray(crop(image), np.uint8))
        objects.append([shapes.CLASSES.index(o) for o in objs])
        backgrounds.append(drawing.background)
    return np.stack(pixels), objects, backgrounds


def render_training_set(count: int, workers: int = 2):
    chunks = [range(i, min(i + 1000, count)) for i in range(0, count, 1000)]
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


BG_NAMES = sorted(set(shapes.BACKGROUND_NAMES.values()))


def background_id(kind: str | None) -> int:
    """The id of the name a caption would give this background kind; -1 for none."""
    name = shapes.BACKGROUND_NAMES.get(kind) if kind else None
    return BG_NAMES.index(name) if name else -1


def match_matrix(objects: torch.Tensor, bgs: torch.Tensor, masks: torch.Tensor, bg_req: torch.Tensor) -> torch.Tensor:
    """[texts, images] True where a caption is true of a picture (the multi-positive targets).

    objects: [images, SLOTS] class ids (NONE for an empty slot); masks: [texts, SLOTS, classes+1].
    A caption is true when its slots match the picture's objects one to one, in some order.
    """
    hit = [[masks[:, j][:, objects[:, k]] for k in range(SLOTS)] for j in range(SLOTS)]  # [texts, images]
    match = torch.zeros_like(hit[0][0])
    for perm in itertools.permutations(range(SLOTS)):
        match |= hit[0][perm[0]] & hit[1][perm[1]] & hit[2][perm[2]]
    bg_ok = (bg_req[:, None] < 0) | (bg_req[:, None] == bgs[None, :])
    return match & bg_ok


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
    cache = args.cache / f"shapes-train-{SEED}-{args.images}.pt" if args.cache else None
    if cache is not None and cache.exists():
        pixels, objects, backgrounds = torch.load(cache)
    else:
        pixels, objects, backgrounds = render_training_set(args.images)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            torch.save((pixels, objects, backgrounds), cache)
    render_s = time.time() - t0
    print(f"rendered {len(pixels)} training pictures in {render_s:.0f}s", flush=True)

    slots = torch.tensor([o + [NONE] * (SLOTS - len(o)) for o in objects])
    bg_ids = torch.tensor([background_id(b) for b in backgrounds])
    captioner = Captioner()
    model = build_model()
    if args.init:
        from safetensors.torch import load_file

        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in load_file(args.init).items()})
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
        masks = torch.from_numpy(np.stack([c[1] for c in caps]))
        bg_req = torch.tensor([background_id(c[2]) for c in caps])
        match = match_matrix(slots[idx], bg_ids[idx], masks, bg_req)
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
        "init": str(args.init.name) if args.init else None,
        "threads": args.threads,
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


@torch.no_grad()
def encode_pictures(model, images: list) -> torch.Tensor:
    full, _ = crop_transform()
    feats = [model.encode_image(torch.stack([full(im) for im in images[i:i + 256]])) for i in range(0, len(images), 256)]
    return F.normalize(torch.cat(feats), dim=-1)


@torch.no_grad()
def style_scores(model, images: list, labels: list[tuple[str, str]], seed: int = 0) -> dict:
    """The figures the held-out tests check, on single-object pictures of all 24 classes.

    24-way zero-shot top-1/top-5, tagging with the four shapes as a label set (the app's default
    template ensemble), and automatic-k grouping (the app's own choose_k/kmeans) of four classes:
    the four shapes of one colour (each colour in turn) and four classes that differ in both.
    """
    from sklearn.metrics import adjusted_rand_score

    from clipgallery.core import grouping
    from clipgallery.core.tagging import DEFAULT_TEMPLATES, fill

    model.eval()
    captioner = Captioner()
    image_f = encode_pictures(model, images)
    names = [shapes.class_name(c, s) for c, s in shapes.CLASSES]
    truth = torch.tensor([shapes.CLASSES.index(lab) for lab in labels])
    sims = image_f @ encode_texts(model, captioner, [article(f"a photo of a {n}") for n in names]).T
    top5 = sims.topk(5, dim=1).indices
    shape_f = torch.stack([F.normalize(encode_texts(model, captioner, [fill(t, s) for t in DEFAULT_TEMPLATES]).mean(0), dim=0)
                           for s in shapes.SHAPES])
    tag = (image_f @ shape_f.T).argmax(1)
    shape_truth = torch.tensor([shapes.SHAPES.index(s) for _, s in labels])

    def auto_k(classes: list[tuple[str, str]]) -> tuple[int, float]:
        rows = [i for i, lab in enumerate(labels) if lab in classes]
        x = image_f[rows].numpy().astype(np.float32)
        k, _ = grouping.choose_k(x, seed=seed)
        found, _ = grouping.kmeans(x, k, seed)
        return k, float(adjusted_rand_score([classes.index(labels[i]) for i in rows], found))

    one_colour = [auto_k([(c, s) for s in shapes.SHAPES]) for c in shapes.COLOURS]
    mixed = [auto_k([shapes.CLASSES[(i * 5 + j * 7) % 24] for j in range(4)]) for i in range(6)]
    return {
        "images": len(images),
        "top1_24way": round(float((top5[:, 0] == truth).float().mean()), 4),
        "top5_24way": round(float((top5 == truth[:, None]).any(1).float().mean()), 4),
        "tagging_4_shapes": round(float((tag == shape_truth).float().mean()), 4),
        "auto_k_four_shapes_of_one_colour_ari_min": round(min(a for _, a in one_colour), 4),
        "auto_k_four_shapes_of_one_colour_k": [k for k, _ in one_colour],
        "auto_k_four_mixed_classes_ari_min": round(min(a for _, a in mixed), 4),
        "auto_k_four_mixed_classes_k": [k for k, _ in mixed],
    }


def held_out_scores(model, per_class: int) -> dict:
    """style_scores on the held-out style (shapes_heldout), written to disk as JPEGs and read back."""
    with tempfile.TemporaryDirectory() as tmp:
        truth = shapes_heldout.write_folder(Path(tmp), per_class, HELD_OUT_SEED)
        paths = sorted(truth)
        images = [Image.open(p).convert("RGB") for p in paths]
        out = style_scores(model, images, [truth[p] for p in paths])
    out["pictures"] = f"shapes_heldout.write_folder(seed={HELD_OUT_SEED}, per_class={per_class})"
    return out


def validation_scores(model, per_class: int) -> dict:
    """style_scores on new pictures from the training renderer (seeds above the training range)."""
    images, labels = [], []
    for k, cls in enumerate(shapes.CLASSES):
        for i in range(per_class):
            seed = shapes.held_out_seed(EVAL_SEED, k, i, 99)
            image = shapes.render_varied([cls], seed).image
            images.append(shapes.jpeg_roundtrip(image, 40 + seed % 56) if seed % 2 else image)
            labels.append(cls)
    out = style_scores(model, images, labels)
    out["pictures"] = f"shapes.render_varied, held_out_seed({EVAL_SEED}, class, i, 99), {per_class} per class"
    return out


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
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--images", type=int, default=24000, help="size of the pre-rendered training set")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--eval-per-class", type=int, default=40)
    parser.add_argument("--out", type=Path, default=ROOT / "clipgallery" / "resources" / "models")
    parser.add_argument("--quick", action="store_true", help="a tiny run, to check that everything works")
    parser.add_argument("--init", type=Path, help="start from these weights instead of random ones")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core CPU)")
    parser.add_argument("--cache", type=Path, help="keep the rendered training set in this folder and reuse it")
    parser.add_argument("--eval-only", type=Path, help="only score these shapes-tiny.safetensors weights")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.eval_only:
        from safetensors.torch import load_file

        model = build_model()
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in load_file(args.eval_only).items()})
        model.eval()
        print(json.dumps({"held_out_style": held_out_scores(model, args.eval_per_class),
                          "training_renderer_validation": validation_scores(model, args.eval_per_class)}, indent=2))
        return
    if args.quick:
        args.steps, args.images, args.batch, args.eval_per_class = 20, 1000, 64, 2
    start = time.time()
    check_preprocessing()
    model, info = train(args)
    # Evaluate what ships: the weights after their float16 round trip.
    model.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in half_state(model).items()}
    )
    info.update(evaluate(model, args.eval_per_class))
    info["training_renderer_validation"] = validation_scores(model, args.eval_per_class // 2)
    info["held_out_style"] = held_out_scores(model, args.eval_per_class // 2)
    info["total_seconds"] = round(time.time() - start, 1)
    print(json.dumps(info, indent=2))
    save(model, info, args.out)
    print(f"wrote {args.out / 'shapes-tiny.json'} and the weights", flush=True)


if __name__ == "__main__":
    main()
