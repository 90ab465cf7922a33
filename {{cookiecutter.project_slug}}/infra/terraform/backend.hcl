{%- set slug = cookiecutter.project_slug -%}
# Where the state lives (terraform init -backend-config=backend.hcl): created by the
# first environment's apply (docs/infrastructure.md, Bootstrap). One state per
# workspace, that is per environment.
{%- if cookiecutter.cloud == "aws" %}
bucket       = "{{ slug }}-tfstate"
key          = "terraform.tfstate"
region       = "eu-west-1"
encrypt      = true
use_lockfile = true
{%- elif cookiecutter.cloud == "gcp" %}
bucket = "{{ slug }}-tfstate"
prefix = "terraform"
{%- elif cookiecutter.cloud == "azure" %}
resource_group_name  = "{{ slug }}"
storage_account_name = "{{ ((slug | replace("-", "")) ~ "data")[:24] }}"
container_name       = "tfstate"
key                  = "terraform.tfstate"
use_azuread_auth     = true
{%- endif %}
