"""The TFDS `gopro` builder, checked with TFDS's own DatasetBuilderTestCase on a fake tree."""

import pathlib
import tempfile
import zipfile

import tensorflow_datasets as tfds

from srn_tf import data, gopro_tfds
from test_data import make_gopro_tree

FAKE_ROOT = tempfile.mkdtemp(prefix="fake_gopro_")
make_gopro_tree(FAKE_ROOT + "/GOPRO_Large", split="train", sequences=2, frames=3, size=(16, 24))
make_gopro_tree(FAKE_ROOT + "/GOPRO_Large", split="test", sequences=1, frames=2, size=(16, 24),
                seed=1)


class GoproTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = gopro_tfds.Gopro
    EXAMPLE_DIR = FAKE_ROOT
    SPLITS = {"train": 6, "test": 2}
    BUILDER_CONFIG_NAMES_TO_TEST = ["blur", "blur_gamma"]
    SKIP_CHECKSUMS = True


def test_tfds_load_from_a_zip_and_the_pipelines(tmp_path):
    manual = tmp_path / "manual"
    manual.mkdir()
    with zipfile.ZipFile(manual / "GOPRO_Large.zip", "w") as z:
        for path in sorted(pathlib.Path(FAKE_ROOT).rglob("*.png")):
            z.write(path, path.relative_to(FAKE_ROOT))
    data_dir = str(tmp_path / "tfds")
    kwargs = {"download_config": tfds.download.DownloadConfig(manual_dir=str(manual))}
    ds = tfds.load("gopro", split="test", data_dir=data_dir, as_supervised=True,
                   download_and_prepare_kwargs=kwargs)
    blur, sharp = next(iter(ds))
    assert blur.shape == (16, 24, 3) and sharp.dtype == "uint8"
    names = [e["name"].numpy().decode()
             for e in data.make_eval_dataset("tfds:gopro", tfds_data_dir=data_dir)]
    assert names == ["GOPR0000_00_00/000000", "GOPR0000_00_00/000001"]
    batch = next(iter(data.make_train_dataset("tfds:gopro", crop_size=8, batch_size=3, seed=0,
                                              tfds_data_dir=data_dir)))
    assert batch[0].shape == (3, 8, 8, 3)
