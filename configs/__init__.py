"""The YAML presets (``volo train --config NAME``), installed as the package ``volo_adapt.presets``.

The folder stays at the top of the repository; pyproject.toml maps it into the package so that a wheel and an
editable install both carry every ``*.yaml`` here (see ``volo_adapt.config.PRESETS_DIR``).
"""
