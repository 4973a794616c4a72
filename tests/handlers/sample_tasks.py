"""@task functions for the worker-process test: the worker finds them through
SCHEDULER_TASK_MODULES, as a project would list a module outside its apps' `tasks`."""

try:
    from django.tasks import task
except ImportError:
    from django_tasks import task


@task
def multiply(a, b):
    return a * b
