"""Page: 待办事项, the signed-in user's to-do list by role."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from experts_service.consultation import todo
from experts_service.core.clock import today

blueprint = Blueprint("todo", __name__)


@blueprint.get("/todo")
@login_required
def index():
    sections = todo.todo_for(current_user)
    entries = todo.entries_of(sections)
    return render_template("consultation/todo.html", sections=sections, total=len(entries),
                           overdue=sum(entry.overdue for entry in entries),
                           has_list=current_user.role in todo.TODO_ROLES, day=today())
