"""Object detection on a CPU (lesson 10): scenes of real digits with their boxes, and average precision.

- :mod:`.scenes`: :func:`make_scenes` places real MNIST digits at random positions and sizes on a canvas and
  computes each digit's box from its pixels; a seed makes a set exactly reproducible.
- :mod:`.centernet`: a centre-heat-map detector (:class:`CenterNet`), its targets (:func:`encode`), its
  loss (:func:`centernet_loss`) and its boxes (:func:`decode`, with or without non-maximum suppression).
- :mod:`.ap`: :func:`average_precision` and :func:`mean_average_precision`, written out as COCO computes them
  (greedy matching by score, 101-point interpolated precision), tested against pycocotools.

Boxes are ``(x1, y1, x2, y2)`` in pixels, edges included: a box covering columns 3 to 7 has ``x1 = 3`` and
``x2 = 8``, so its width is ``x2 - x1`` (the convention of ``torchvision.ops.box_iou`` and COCO's areas).
"""

from .ap import average_precision, match_detections, mean_average_precision
from .centernet import CenterNet, DetectionF1, centernet_loss, decode, decode_targets, encode
from .scenes import Scenes, make_scenes, scenes_dataset

__all__ = [
    "CenterNet",
    "DetectionF1",
    "Scenes",
    "average_precision",
    "centernet_loss",
    "decode",
    "decode_targets",
    "encode",
    "make_scenes",
    "match_detections",
    "mean_average_precision",
    "scenes_dataset",
]
