"""The srn-tf commands, the top layer of the package: each module parses its flags, calls the
library and prints what it did (`srn_tf.cli.run`). Installed as console scripts (pyproject.toml):

  srn-deblur    srn_tf.commands.deblur     deblur photos, folders, videos
  srn-train     srn_tf.commands.train      train a model
  srn-evaluate  srn_tf.commands.evaluate   compare models on paired data
  srn-export    srn_tf.commands.export     SavedModel, LiteRT, ONNX
  srn-convert   srn_tf.commands.convert    a release checkpoint → .keras
  srn-demo      srn_tf.commands.demo       the web demo
  srn-data      srn_tf.commands.data       write the embedded dataset or the synthetic contact sheet

Each also runs as `python -m srn_tf.commands.<name>`; the checkout's `deblur.py`, `train.py` and
`evaluate.py` are the first three. No library module imports this package.
"""
