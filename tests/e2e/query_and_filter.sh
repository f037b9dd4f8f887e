# List builds for specific project
curl -s "$API_URL/builds?project_id=$PROJECT_ID" \
  -H "X-API-Key: $API_KEY" | jq

# List only failed builds
curl -s "$API_URL/builds?status=failed" \
  -H "X-API-Key: $API_KEY" | jq

# Get dashboard summary
curl -s "$API_URL/dashboard/summary" \
  -H "X-API-Key: $API_KEY" | jq
