// placeholder; replaced by the flame graph viewer
