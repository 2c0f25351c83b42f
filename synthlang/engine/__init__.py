"""The rendering engine: regions, shapes, placement, textures, compositing, degradation."""
