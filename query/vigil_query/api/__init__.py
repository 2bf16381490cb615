"""The query service's edge: the RPC servicers, the gRPC and Connect servers, the web port.

service.py (QueryService: every RPC, errors → gRPC status codes once), admin_service.py
(AdminService), server.py (the gRPC port and its lifecycle), connect_app.py + web_server.py
(the same servicers over Connect on the web port), web_app.py (that port's routes and the UI).
"""
