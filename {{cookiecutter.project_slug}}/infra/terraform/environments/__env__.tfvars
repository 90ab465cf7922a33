# The __env__ environment, one Terraform workspace (state) of its own:
#   terraform workspace select -or-create __env__
#   terraform apply -var-file=environments/__env__.tfvars
environment = "__env__"
{%- if cookiecutter.prediction_store == "postgres" %}
# The prediction store's database, as in store.url of configs/__env__.yaml.
database_name = "{{ cookiecutter.package_name }}___env__"
{%- endif %}
