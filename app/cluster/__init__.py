"""Jobs of the queue run on a Ray cluster: the executor decides WHERE a job runs, never how.

The submitting machine keeps the SQLite queue (claims, leases, heartbeats: the same Worker loop); each
claimed job goes to a RayJobRunner (segment_job.py) that sends its work to long-lived swap actors
(actors.py) through Ray's object store and writes the outputs here, atomically. A long video is split
into segments (app.media.segments), one task each, and joined here. Ray is imported lazily (connect.py):
the default install has none.
"""
