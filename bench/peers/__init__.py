"""The servers a user would pick instead of this service, run beside it by bench.compare.

`naive.py` is the peer written the usual way (Starlette, sse-starlette, encode/broadcaster
on Redis); `nchan.py` runs nginx with the Nchan module; `targets.py` puts them and this
service behind one interface the load client drives.
"""
