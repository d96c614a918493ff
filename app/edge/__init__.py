"""The request edge: the ASGI wrappers every request passes before a route.

From the outside in (assembled in app/main.py):
    observed.py         every request's id (X-Request-ID), count and latency by route
    outage_guard.py     a database outage anywhere inside answered 503
    app/api/fast_lane.py  the API's valid hot-path requests answered early
    recorded_writes.py  each state-changing request one transaction, naming its actor
    headers.py          fixed security headers, by part of the site
    json_body.py        a write's body a JSON object of bounded size, or 400/413
    first_use.py        the admin, built by its first request

They share one body reader (body.py: read once per request, replayed to the app)
and one header adder (headers.py).
"""
