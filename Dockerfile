# Kazna in a container: a static binary on a distroless base. Build: docker build -t kazna .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/kazna ./cmd/kazna

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/kazna /usr/local/bin/kazna
ENV KAZNA_DATA=/data KAZNA_ADDR=0.0.0.0:8080
VOLUME /data
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/kazna"]
CMD ["serve"]
