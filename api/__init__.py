"""The HTTP API of the dispatch service (FastAPI): the application (:mod:`.app`), the server
command (:mod:`.server`), the request guards, authentication and request bodies, the route
modules (:mod:`.routes`), the request and response models (:mod:`.schemas`), the OpenAPI links
(:mod:`.links`) and the metrics (:mod:`.metrics`). The operators' dashboard will live here
too, as routes and static pages served by the same application.
"""
