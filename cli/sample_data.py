"""`petseg make-sample-data`: a small synthetic dataset in the exact Oxford-IIIT Pet layout.

It is the embedded default for the demo and the tests: no download, a few seconds to make,
and learnable. Each image holds one pet (cats with pointed ears, dogs with drooping ears
and a longer snout) of random size, position and colour on a textured background; its
trimap marks pet (1), background (2) and the unclassified band around the outline (3),
as the real trimaps do.
"""
import os
from typing import Dict

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from petseg.components.example_gen import oxford_lists
from petseg.core import errors

_LIST_HEADER = (
    '#Image CLASS-ID SPECIES BREED ID\n'
    '#ID: 1:37 Class ids\n'
    '#SPECIES: 1:Cat 2:Dog\n'
    '#BREED ID: 1-25:Cat 1:12:Dog\n'
    '#All images with 1st letter as captial are cat images\n'
    '#images with small first letter are dog images\n')


def _pet_silhouette(rng: np.random.Generator, width: int, height: int, cat: bool) -> Image.Image:
  """A binary ('L', 0/255) silhouette: body, head, ears and tail."""
  img = Image.new('L', (width, height), 0)
  draw = ImageDraw.Draw(img)
  s = rng.uniform(0.4, 0.75) * min(width, height)
  cx, cy = rng.uniform(0.35, 0.65) * width, rng.uniform(0.4, 0.65) * height
  facing = rng.choice([-1, 1])
  body_w, body_h = s * rng.uniform(0.45, 0.6), s * rng.uniform(0.25, 0.35)
  draw.ellipse([cx - body_w, cy - body_h, cx + body_w, cy + body_h], fill=255)
  hx, hy, r = cx + facing * body_w * 0.8, cy - body_h * 1.1, s * rng.uniform(0.17, 0.24)
  draw.ellipse([hx - r, hy - r, hx + r, hy + r], fill=255)
  if cat:  # Pointed ears.
    for side in (-1, 1):
      ex = hx + side * r * 0.55
      draw.polygon([(ex - r * 0.4, hy - r * 0.6), (ex + r * 0.4, hy - r * 0.6),
                    (ex + side * r * 0.1, hy - r * 1.6)], fill=255)
  else:  # Drooping ears and a snout.
    for side in (-1, 1):
      ex = hx + side * r * 0.9
      draw.ellipse([ex - r * 0.3, hy - r * 0.5, ex + r * 0.3, hy + r * 0.9], fill=255)
    sx = hx + facing * r * 0.9
    draw.ellipse([sx - r * 0.5, hy - r * 0.1, sx + r * 0.5, hy + r * 0.5], fill=255)
  tail_x = cx - facing * body_w
  draw.line([(tail_x, cy), (tail_x - facing * s * 0.3, cy - s * rng.uniform(0.1, 0.4))],
            fill=255, width=max(2, int(s * 0.06)))
  return img


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
  """Textured clutter: a colour gradient, stripes and noise."""
  base = rng.uniform(40, 215, size=3)
  ramp = np.linspace(-1, 1, width)[None, :, None] * rng.uniform(-40, 40, size=3)
  period = rng.uniform(6, 20)
  angle = rng.uniform(0, np.pi)
  y, x = np.mgrid[0:height, 0:width]
  stripes = np.sin((x * np.cos(angle) + y * np.sin(angle)) / period * 2 * np.pi)
  texture = stripes[..., None] * rng.uniform(10, 35, size=3)
  noise = rng.normal(0, 18, size=(height, width, 3))
  return base + ramp + texture + noise


def _pet_coat(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
  """A smooth coat colour with soft shading and a little fur noise."""
  colour = rng.uniform(0, 255, size=3)
  y = np.linspace(-1, 1, height)[:, None, None]
  return colour + y * rng.uniform(-25, 25) + rng.normal(0, 5, size=(height, width, 3))


def make_pet(rng: np.random.Generator, width: int, height: int, cat: bool):
  """(RGB image, trimap) as uint8 arrays."""
  silhouette = _pet_silhouette(rng, width, height, cat)
  band = max(1, round(min(width, height) / 60))
  grown = np.asarray(silhouette.filter(ImageFilter.MaxFilter(2 * band + 1))) > 0
  shrunk = np.asarray(silhouette.filter(ImageFilter.MinFilter(2 * band + 1))) > 0
  inside = np.asarray(silhouette) > 0
  trimap = np.full((height, width), 2, np.uint8)
  trimap[grown & ~shrunk] = 3
  trimap[shrunk] = 1
  pixels = np.where(inside[..., None], _pet_coat(rng, width, height),
                    _background(rng, width, height))
  return np.clip(pixels, 0, 255).astype(np.uint8), trimap


def sample_name(i: int) -> str:
  """The name of the `i`th pet: the breeds in turn, each numbered from 1."""
  return f'{oxford_lists.BREEDS[i % len(oxford_lists.BREEDS)]}_{i // len(oxford_lists.BREEDS) + 1}'


def make_sample_data(out_dir: str, num_images: int = 64, test_fraction: float = 0.25,
                     seed: int = 0, min_size: int = 96, max_size: int = 192) -> Dict[str, int]:
  """Writes images/, annotations/trimaps/ and the three lists; returns the list sizes."""
  if num_images < 4:
    raise errors.ConfigError('make at least 4 images, so that every split gets some')
  rng = np.random.default_rng(seed)
  images_dir = os.path.join(out_dir, 'images')
  trimaps_dir = os.path.join(out_dir, 'annotations', 'trimaps')
  os.makedirs(images_dir, exist_ok=True)
  os.makedirs(trimaps_dir, exist_ok=True)
  names = []
  for i in range(num_images):
    name = sample_name(i)
    breed = oxford_lists.breed_of(name)
    width, height = (int(v) for v in rng.integers(min_size, max_size + 1, size=2))
    image, trimap = make_pet(rng, width, height, cat=oxford_lists.species_id(breed) == 1)
    Image.fromarray(image).save(os.path.join(images_dir, name + '.jpg'), quality=92)
    Image.fromarray(trimap).save(os.path.join(trimaps_dir, name + '.png'))
    names.append(name)
  test = set(rng.choice(names, size=max(1, round(num_images * test_fraction)), replace=False))
  lists = {'list.txt': names, 'trainval.txt': [n for n in names if n not in test],
           'test.txt': [n for n in names if n in test]}
  for file_name, listed in lists.items():
    with open(os.path.join(out_dir, 'annotations', file_name), 'w') as f:
      f.write(_LIST_HEADER if file_name == 'list.txt' else '')
      f.writelines(oxford_lists.list_line(n) + '\n' for n in listed)
  return {file_name: len(listed) for file_name, listed in lists.items()}
