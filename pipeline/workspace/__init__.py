"""The communications team's workspace: the review queue, the policy's figures and the dashboard, behind a login."""
