"""A small synthetic detection dataset of coloured shapes, in COCO format.

Every image holds 2 to 8 filled shapes of six classes (:data:`SHAPES_CLASSES`)
drawn over a cluttered background: a colour gradient, optional stripes,
low-frequency colour noise, irregular distractor blobs and straight lines.
Shapes are stretched, rotated, shaded, sized from 8 px to half the image and
may overlap; the image is then optionally blurred, gets pixel noise and is
saved as JPEG. The task is easy enough for a working detector to learn in
minutes and hard enough that a subtly broken one shows in the AP.

Conventions:

- A later shape is drawn over the earlier ones. A shape is placed only if
  every shape keeps at least :data:`MIN_VISIBLE_FRACTION` of its pixels
  visible, so each drawn shape has a label and no label is invisible.
- ``bbox`` is the tight box ``[x, y, w, h]`` of the *visible* pixels of a shape
  (integer pixel edges) and ``area`` is its number of visible pixels.
- The output is a pure function of the settings: the same settings give
  byte-identical JSON and images (with the same OpenCV build). Each image has
  its own random generator seeded by ``(seed, split, index)``, so the splits
  are disjoint streams.
"""
import json
import os
import os.path as osp
from glob import glob

import cv2
import numpy as np

SHAPES_CLASSES = ('ellipse', 'rectangle', 'triangle', 'star', 'ring', 'cross')
SPLITS = ('train', 'val', 'test')
MIN_VISIBLE_FRACTION = 0.4
VERSION = 1  # bump when the drawing changes, so old outputs are regenerated
MARKER_FILE = 'shapes_dataset.json'
JPEG_QUALITY = 90
MIN_OBJECT_SIZE = 8  # px, the longer side of a shape before occlusion
MIN_CONTRAST = 60.  # RGB distance between a shape and what lies beneath it

# How much each class may be squashed along one axis (1 = never).
_MIN_STRETCH = dict(
    ellipse=0.45, rectangle=0.3, triangle=0.6, star=0.7, ring=0.5, cross=0.7)


def make_shapes_dataset(out_dir,
                        num_train=1000,
                        num_val=200,
                        num_test=200,
                        img_size=256,
                        seed=0):
    """Write the shapes dataset under ``out_dir``, unless it is already there.

    The layout is ``out_dir/{train,val,test}/NNNNNN.jpg`` and
    ``out_dir/annotations/instances_{train,val,test}.json``. A marker file
    ``out_dir/shapes_dataset.json`` records the settings and the generator
    version; when it matches, nothing is written again.

    Args:
        out_dir (str): Folder to write into; created if missing.
        num_train (int): Images in the train split. Defaults to 1000.
        num_val (int): Images in the val split. Defaults to 200.
        num_test (int): Images in the held-out test split. Defaults to 200.
        img_size (int): Side of the square images in pixels; at least 64.
            Defaults to 256.
        seed (int): Seed of the whole dataset. Defaults to 0.

    Returns:
        dict: ``generated`` (bool, False when the existing output was kept),
        ``marker`` (path of the marker file) and, per split name, a dict with
        ``img_dir`` and ``ann_file``.
    """
    if img_size < 64:
        raise ValueError(f'img_size must be at least 64 px, got {img_size}; '
                         'smaller images cannot hold 2 to 8 shapes.')
    counts = dict(train=num_train, val=num_val, test=num_test)
    for split, num in counts.items():
        if num < 0:
            raise ValueError(f'num_{split} must be >= 0, got {num}.')
    settings = dict(version=VERSION, img_size=img_size, seed=seed, **counts)
    marker = osp.join(out_dir, MARKER_FILE)
    result = dict(generated=False, marker=marker)
    for split in SPLITS:
        result[split] = dict(
            img_dir=osp.join(out_dir, split),
            ann_file=osp.join(out_dir, 'annotations',
                              f'instances_{split}.json'))
    if _read_json(marker) == settings and all(
            osp.isfile(result[s]['ann_file']) for s in SPLITS):
        return result

    if osp.exists(marker):
        os.remove(marker)  # the output is incomplete until rewritten
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    for split_idx, split in enumerate(SPLITS):
        img_dir = result[split]['img_dir']
        os.makedirs(img_dir, exist_ok=True)
        for stale in glob(osp.join(img_dir, '[0-9]*.jpg')):
            os.remove(stale)  # images of an earlier, larger run
        coco = _make_split(img_dir, counts[split], img_size, seed, split_idx)
        with open(result[split]['ann_file'], 'w') as f:
            json.dump(coco, f, separators=(',', ':'))
    with open(marker, 'w') as f:
        json.dump(settings, f, indent=2)
    result['generated'] = True
    return result


def _read_json(path):
    """Return the content of a JSON file, or None if it is missing or bad."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _make_split(img_dir, num_images, img_size, seed, split_idx):
    """Draw and save one split's images; return its COCO annotation dict."""
    images, annotations = [], []
    for idx in range(num_images):
        rng = np.random.default_rng([seed, split_idx, idx])
        img, objects = draw_shapes_image(rng, img_size)
        file_name = f'{idx:06d}.jpg'
        ok, buf = cv2.imencode('.jpg', img,
                               [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise RuntimeError(f'OpenCV failed to encode {file_name}.')
        buf.tofile(osp.join(img_dir, file_name))
        img_id = idx + 1
        images.append(
            dict(id=img_id, file_name=file_name, width=img_size,
                 height=img_size))
        for label, bbox, area in objects:
            annotations.append(
                dict(id=len(annotations) + 1, image_id=img_id,
                     category_id=label + 1, bbox=bbox, area=area, iscrowd=0))
    categories = [
        dict(id=i + 1, name=name, supercategory='shape')
        for i, name in enumerate(SHAPES_CLASSES)
    ]
    info = dict(description='mmdet-parnet synthetic shapes',
                version=VERSION, split=SPLITS[split_idx], seed=seed)
    return dict(info=info, licenses=[], images=images,
                annotations=annotations, categories=categories)


def draw_shapes_image(rng, img_size):
    """Draw one image of 2 to 8 shapes over a cluttered background.

    Args:
        rng (numpy.random.Generator): Source of all randomness.
        img_size (int): Side of the square image in pixels.

    Returns:
        tuple: ``(img, objects)``, a BGR ``uint8`` image and a list of
        ``(label, [x, y, w, h], area)`` with the 0-based class index, the
        visible box and the visible pixel count, in drawing order.
    """
    yy, xx = np.mgrid[:img_size, :img_size].astype(np.float32)
    canvas = _background(rng, img_size, xx, yy)
    num_wanted = int(rng.integers(2, 9))
    drawn = []  # [label, full pixel count, visible mask]
    for _ in range(20 * num_wanted):
        if len(drawn) == num_wanted:
            break
        label = int(rng.integers(len(SHAPES_CLASSES)))
        mask = _shape_mask(rng, SHAPES_CLASSES[label], img_size)
        if any((visible & ~mask).sum() < MIN_VISIBLE_FRACTION * full
               for _, full, visible in drawn):
            continue  # would hide too much of an earlier shape
        for item in drawn:
            item[2] &= ~mask
        drawn.append([label, int(mask.sum()), mask])
        _paint(rng, canvas, mask, xx, yy)

    if rng.random() < 0.5:
        canvas = cv2.GaussianBlur(canvas, (0, 0), rng.uniform(0.4, 1.4))
    canvas += rng.normal(0., rng.uniform(2., 12.), canvas.shape)
    img = np.clip(canvas, 0, 255).round().astype(np.uint8)

    objects = []
    for label, _, visible in drawn:
        ys, xs = np.nonzero(visible)
        x0, y0 = int(xs.min()), int(ys.min())
        bbox = [x0, y0, int(xs.max()) + 1 - x0, int(ys.max()) + 1 - y0]
        objects.append((label, bbox, int(visible.sum())))
    return img, objects


def _background(rng, size, xx, yy):
    """A float32 BGR background: gradient, stripes, colour noise, clutter."""
    theta = rng.uniform(0, 2 * np.pi)
    ramp = (xx * np.cos(theta) + yy * np.sin(theta)) / size
    ramp = (ramp - ramp.min()) / max(np.ptp(ramp), 1e-6)
    c0, c1 = rng.uniform(0, 255, (2, 3)).astype(np.float32)
    canvas = c0 + ramp[..., None] * (c1 - c0)
    if rng.random() < 0.5:
        theta = rng.uniform(0, np.pi)
        period = rng.uniform(0.03, 0.15) * size
        phase = (xx * np.cos(theta) + yy * np.sin(theta)) * 2 * np.pi / period
        canvas += np.sin(phase)[..., None] * rng.uniform(-40, 40, 3)
    coarse = rng.normal(0., rng.uniform(0, 30), (8, 8, 3)).astype(np.float32)
    canvas += cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(0, 4))):
        field = cv2.resize(
            rng.random((6, 6)).astype(np.float32), (size, size),
            interpolation=cv2.INTER_CUBIC)
        blob = field > rng.uniform(0.75, 0.95)
        alpha = rng.uniform(0.3, 0.8)
        canvas[blob] = ((1 - alpha) * canvas[blob] +
                        alpha * rng.uniform(0, 255, 3).astype(np.float32))
    for _ in range(int(rng.integers(0, 5))):
        p0, p1 = rng.integers(0, size, (2, 2))
        cv2.line(canvas, tuple(map(int, p0)), tuple(map(int, p1)),
                 rng.uniform(0, 255, 3).tolist(), int(rng.integers(1, 4)))
    return canvas


def _outline(rng, name):
    """Unit-size outline of a shape: ``(outer, hole)``, ``(N, 2)`` arrays."""
    hole = None
    if name in ('ellipse', 'ring'):
        t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        outer = np.stack([np.cos(t), np.sin(t)], axis=1)
        if name == 'ring':
            hole = outer * rng.uniform(0.45, 0.7)
    elif name == 'rectangle':
        outer = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64)
    elif name == 'triangle':
        t = np.deg2rad([90, 210, 330] + rng.uniform(-12, 12, 3))
        outer = np.stack([np.cos(t), np.sin(t)], axis=1)
    elif name == 'star':
        t = np.linspace(0, 2 * np.pi, 10, endpoint=False)
        radius = np.where(np.arange(10) % 2, rng.uniform(0.38, 0.55), 1.)
        outer = np.stack([np.cos(t), np.sin(t)], axis=1) * radius[:, None]
    else:  # cross
        w = rng.uniform(0.2, 0.35)
        outer = np.array([[-w, -1], [w, -1], [w, -w], [1, -w], [1, w],
                          [w, w], [w, 1], [-w, 1], [-w, w], [-1, w],
                          [-1, -w], [-w, -w]])
    return outer, hole


def _shape_mask(rng, name, img_size):
    """Boolean mask of one stretched, rotated, sized and placed shape."""
    outer, hole = _outline(rng, name)
    stretch = np.array([1., rng.uniform(_MIN_STRETCH[name], 1.)])
    angle = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(angle), -np.sin(angle)],
                    [np.sin(angle), np.cos(angle)]])
    outer = outer * stretch @ rot.T
    lo, hi = outer.min(0), outer.max(0)
    # Log-uniform size of the longer side, from 8 px to half the image.
    size = np.exp(rng.uniform(np.log(MIN_OBJECT_SIZE), np.log(img_size / 2)))
    scale = size / (hi - lo).max()
    half = (hi - lo) * scale / 2
    offset = rng.uniform(half, img_size - half) - (hi + lo) * scale / 2
    mask = np.zeros((img_size, img_size), np.uint8)
    cv2.fillPoly(mask, [_fixed_point(outer * scale + offset)], 1, shift=4)
    if hole is not None:
        hole = hole * stretch @ rot.T
        cv2.fillPoly(mask, [_fixed_point(hole * scale + offset)], 0, shift=4)
    return mask.astype(bool)


def _fixed_point(points):
    """Pixel coordinates as OpenCV's 4-bit fixed point (``shift=4``)."""
    # -0.5: OpenCV puts pixel centres at integer coordinates.
    return np.round((points - 0.5) * 16).astype(np.int32)


def _paint(rng, canvas, mask, xx, yy):
    """Fill ``mask`` on ``canvas`` with a shaded colour that stands out."""
    beneath = canvas[mask].mean(0)
    colours = rng.uniform(0, 255, (8, 3)).astype(np.float32)
    contrast = np.linalg.norm(colours - beneath, axis=1)
    good = np.flatnonzero(contrast >= MIN_CONTRAST)
    colour = colours[good[0] if len(good) else contrast.argmax()]
    # A linear shading across the shape, up to +-40 levels over 64 px.
    slope = rng.uniform(-40, 40, 2) / 64
    shade = (xx[mask] - xx[mask].mean()) * slope[0] + (
        yy[mask] - yy[mask].mean()) * slope[1]
    canvas[mask] = colour + shade[:, None]
