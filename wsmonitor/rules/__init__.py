"""The rules: samples in, check results and the diagnosis out. Pure: no I/O, no Textual.

Imports flow one way: `base` ← the per-area rules (`platform`, `redis`, `websocket`,
`delivery`, `browser`, `logs`) ← `evaluate`; `diagnosis` reads `base`, `platform` and
`websocket`.
"""
