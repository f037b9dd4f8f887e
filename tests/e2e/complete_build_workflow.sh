# 1. Authenticate
export API_KEY="dev-key-12345"
export API_URL="http://localhost:8080"

# 2. Create project
PROJECT_ID=$(curl -s -X POST "$API_URL/projects/" \
  -H "X-API-Key: $API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"name": "rhel-9-base", "description": "RHEL 9 base images"}' \
  | jq -r '.id')

# 3. Create build
BUILD_ID=$(curl -s -X POST "$API_URL/builds" \
  -H "X-API-Key: $API_KEY" \
  -H "Content-Type: application/json" \
  -d "{
    \"project_id\": \"$PROJECT_ID\",
    \"platform_id\": \"aws-commercial\",
    \"os_version_id\": \"rhel-9.3\",
    \"image_type_id\": \"base\",
    \"build_number\": \"2024.02.001\"
  }" | jq -r '.id')

# 4. Update state as build progresses
curl -X POST "$API_URL/builds/$BUILD_ID/state" \
  -H "X-API-Key: $API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"state_code": 5, "status": "in_progress", "message": "Starting build"}'

curl -X POST "$API_URL/builds/$BUILD_ID/state" \
  -H "X-API-Key: $API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"state_code": 25, "status": "in_progress", "message": "Installing packages"}'

# 5. Check build status
curl -s "$API_URL/builds/$BUILD_ID/state" \
  -H "X-API-Key: $API_KEY" | jq
