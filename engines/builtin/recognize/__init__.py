"""Who a face is: ArcFace embeddings and source identities."""
