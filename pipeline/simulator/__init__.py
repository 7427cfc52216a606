"""A synthetic company whose true community size is known (`chorus simulate`).

`config` holds the knobs (light, so the CLI reads its defaults without numpy),
`texts` what the simulated employees write, `company` the generator and its
ground truth. Import from the module you need: this file stays empty so that
reading the knobs never loads the generator.
"""
