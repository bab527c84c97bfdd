"""The desktop studio. The only package that imports Qt."""
