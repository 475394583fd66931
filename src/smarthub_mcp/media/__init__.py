"""Generated media: where the bytes live (`Storage`: a local directory or an S3-compatible bucket),
previews small enough for a tool result (`thumbs`), and the library of every output (`library`).

The jobs engine calls `library.save_output` before a job counts as delivered; the tools, the HTTP
API and the `media://` resources read the library through its owner checks.
"""
