from .saas_instance import SaasEnv, SaasInstance, SaasServer, User

__all__ = ["SaasEnv", "SaasInstance", "SaasServer", "User"]
