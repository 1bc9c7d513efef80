"""Fleet simulator: seeded products with failure modes, ground truth, MQTT publishing."""
