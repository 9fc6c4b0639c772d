"""Home: sends each role to where its work starts."""
from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user

from experts_service.core.templating import navigation_for

blueprint = Blueprint("main", __name__)


@blueprint.get("/")
def index():
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login"))
    items = navigation_for(current_user)
    if items:
        return redirect(url_for(items[0].endpoint))
    return render_template("home.html")
