"""Test stand-in for oxwhirl SMAC (``smac``): only ``smac.env.StarCraft2Env``, over the real SMAX simulator."""
