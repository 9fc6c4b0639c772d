"""JSON API: the signed-in user's to-do list (待办事项)."""
from __future__ import annotations

from flask.views import MethodView
from flask_login import current_user

from experts_service.consultation import todo
from experts_service.consultation.schemas import TodoListSchema
from experts_service.core.errors import NotAuthenticated
from experts_service.core.routing import ApiBlueprint as Blueprint

blueprint = Blueprint("todo_api", __name__, url_prefix="/todo", description="待办事项")
blueprints = (blueprint,)


@blueprint.route("")
class TodoList(MethodView):
    @blueprint.response(200, TodoListSchema)
    def get(self):
        """The caller's to-do list by role, as on the 待办 page; empty for roles without one.

        Department: panels to confirm, seats left open, attendance, adoption feedback, ratings (due and overdue).
        Expert: invitations to answer, opinions to write or submit. Talent office: requests without a
        recommendation, vacancies no alternate could fill, overdue ratings across departments.
        """
        if not current_user.is_authenticated:
            raise NotAuthenticated()
        entries = todo.entries_of(todo.todo_for(current_user))
        return {"role": current_user.role.value, "count": len(entries),
                "overdue": sum(entry.overdue for entry in entries), "items": entries}
