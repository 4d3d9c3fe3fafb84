"""TFDS builder `gopro`: the GoPro deblurring dataset (Nah, Kim, Lee, CVPR 2017) from a manual download.

Importing this module registers it:

  import srn_tf.gopro_tfds
  ds = tfds.load("gopro", split="train", data_dir=...,
                 download_and_prepare_kwargs={"download_config": tfds.download.DownloadConfig(
                     manual_dir="/path/holding/GOPRO_Large")})

Configs: `blur` (default, the release's choice) and `blur_gamma` (blur averaged in linear light).
"""

import tensorflow_datasets as tfds

from srn_tf import sources
from srn_tf.errors import DataError

_ZIP = "GOPRO_Large.zip"
_FOLDER = "GOPRO_Large"


class Gopro(tfds.core.GeneratorBasedBuilder):
    """GoPro: 3,214 blurry/sharp 1280×720 pairs from 33 sequences (2,103 train, 1,111 test)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = [
        tfds.core.BuilderConfig(name="blur", description="blur averaged as stored (the release's)"),
        tfds.core.BuilderConfig(name="blur_gamma", description="blur averaged in linear light"),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""
    Download {_ZIP} from the GoPro dataset's page (Seungjun Nah, "Deep Multi-scale CNN for
    Dynamic Scene Deblurring", CVPR 2017) and put it, or the folder {_FOLDER}/ extracted from it,
    in the manual folder (default ~/tensorflow_datasets/downloads/manual/). The folder must hold
    train/<SEQ>/{{blur,blur_gamma,sharp}}/NNNNNN.png and test/<SEQ>/... .
    """

    def _info(self):
        image = tfds.features.Image(shape=(None, None, 3))
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "blur": image, "sharp": image,
                "sequence": tfds.features.Text(), "frame": tfds.features.Text()}),
            supervised_keys=("blur", "sharp"),
            homepage="https://seungjunnah.github.io/Datasets/gopro",
        )

    def _root(self, dl_manager):
        """The GOPRO_Large folder: found in the manual dir, or extracted from the zip there."""
        manual = dl_manager.manual_dir
        for candidate in (manual / _FOLDER, manual):
            if all((candidate / s).is_dir() for s in sources.GOPRO_SPLITS):
                return candidate
        if (manual / _ZIP).exists():
            extracted = dl_manager.extract(manual / _ZIP)
            for candidate in (extracted / _FOLDER, extracted):
                if all((candidate / s).is_dir() for s in sources.GOPRO_SPLITS):
                    return candidate
        raise DataError(f"no {_FOLDER}/ folder or {_ZIP} in {manual}."
                             + self.MANUAL_DOWNLOAD_INSTRUCTIONS)

    def _split_generators(self, dl_manager):
        root = self._root(dl_manager)
        return {split: self._generate_examples(root, split) for split in sources.GOPRO_SPLITS}

    def _generate_examples(self, root, split):
        for pair in sources.gopro_pairs(str(root), split, self.builder_config.name):
            sequence, frame = pair.name.split("/")
            yield pair.name, {"blur": pair.blur, "sharp": pair.sharp,
                              "sequence": sequence, "frame": frame}
