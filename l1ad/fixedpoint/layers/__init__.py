"""One module per layer kind (node, Keras handlers, bounds, emulator op, da4ml trace, hls4ml settings).

The modules are listed, in one place, by :mod:`l1ad.fixedpoint.registry`.
"""
