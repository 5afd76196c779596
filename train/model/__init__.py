"""MSF (multi-scale spiking fusion) and its baseline, built from SpikingJelly LIF neurons."""
