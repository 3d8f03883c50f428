"""Google Maps Platform, calls out only: cached Geocoding, Directions and Distance Matrix.

`calls.GoogleMapsCalls` (activities), `workflows` (one per call, and the cache purge),
`cache` (at most 30 days, as the terms require), `client` (the official client with its own
retries off), `quota` (daily usage and its warning), `schedule` (the daily purge).
"""
