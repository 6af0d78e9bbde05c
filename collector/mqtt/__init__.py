"""MQTT input: broker sessions, payload decoding and Sparkplug B state."""
