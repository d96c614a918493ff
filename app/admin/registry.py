"""Other Piccolo apps bring their own admin tables, as Django apps do: an ``admin``
module beside an app's ``piccolo_app`` module, with a ``TABLES`` list of
``TableConfig``, is found through the app registry (piccolo_conf.py)."""

import importlib
import importlib.util

from piccolo.conf.apps import Finder
from piccolo_admin.endpoints import TableConfig

CORE_APP = "app.piccolo_app"  # its tables are app/admin/table_configs.py


def registered_tables() -> list[TableConfig]:
    """The admin tables of every registered app other than the core one, in
    registry order."""
    found: list[TableConfig] = []
    for app_module in Finder().get_app_registry().apps:
        package = app_module.rpartition(".")[0]
        if app_module == CORE_APP or not package:
            continue
        admin_module = f"{package}.admin"
        if importlib.util.find_spec(admin_module) is not None:
            found += importlib.import_module(admin_module).TABLES
    return found
