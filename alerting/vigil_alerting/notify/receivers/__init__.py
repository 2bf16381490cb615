"""One file per receiver integration, all behind ``base.Integration``."""

from vigil_alerting.notify.receivers.base import Answer, Integration, build_integrations

__all__ = ["Answer", "Integration", "build_integrations"]
