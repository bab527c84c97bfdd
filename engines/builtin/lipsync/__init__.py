"""Lip sync (Wav2Lip contract): speech → mel windows (`mel`) → the mouth of a face redrawn (`lip_syncer`)."""
