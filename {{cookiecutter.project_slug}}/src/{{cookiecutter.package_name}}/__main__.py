import sys

from {{cookiecutter.package_name}}.cli import main

sys.exit(main())
