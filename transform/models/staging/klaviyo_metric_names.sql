-- Every name a metric has had, with the metric it is now (var klaviyo__metrics in dbt_project.yml).
{{ klaviyo_metric_name_rows() }}
