"""``rustorch.vision``: torchvision's API on rustorch (``import torchvision`` becomes
``import rustorch.vision``)."""
from . import models
