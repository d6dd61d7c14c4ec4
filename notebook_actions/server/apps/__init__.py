"""The app pages of served notebooks: the notebook as its prime left it, widgets live over HTTP."""
