"""LeadLoop's domain: the data model, the services that hold the business rules, and the jobs."""
